"""What students get, written from the one source ``solutions/batchnorm_gradclip_exercise.py``.

* ``template``   the student template (each solution block replaced by a stub with its hint)
* ``notebooks``  the student and reference notebooks (jupytext percent format to ``.ipynb``)
* ``release``    the student repository: template, notebooks, public tests, workflow, manifest
* ``manifest``   the SHA-256 of the protected files and the released templates
* ``release_files/``  what the release ships besides the assignment folder

Depends on ``grading`` (the hidden checks, for the leak check; the notebook reader) and
``sandbox.names``.
"""
