"""``python -m autograder similarity RESULTS_DIR --out OUT_DIR``: similarity of a class's work.

``grade-repos`` keeps each graded file under ``RESULTS_DIR/submissions/<student>/``. This package
compares them pairwise with copydetect (winnowed fingerprints of the tokenised code, names
abstracted away), with the released template's code as boilerplate, and checks each one against
the reference solution:

* ``collect``: the documents to compare, one per submitted edition (``.py`` / ``.ipynb``);
* ``compare``: the pairwise scores and the matched regions of a pair (copydetect);
* ``reference``: copies of the reference solution, by its marker lines and by similarity;
* ``report``: ``pairs.csv``, ``reference_copies.csv``, ``similarity.json``, ``index.html`` and a
  side-by-side page per listed pair, in an output directory of our own;
* ``command``: the command line and ``similarity_report()``.

docs/similarity.md explains the measure, the thresholds and how they were chosen.
"""
