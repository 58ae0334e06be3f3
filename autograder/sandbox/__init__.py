"""The student side of the grader and the wire between the two sides.

Modules here are imported in two places: by the trusted grader (as ``autograder.sandbox``) and
inside the sandboxed student process (as a stand-alone package, mounted read-only). So they import
nothing from the rest of ``autograder``: no verdicts, no references, no hidden checks live here.

* ``protocol``  framing of messages; every message is decoded with ``torch.load(weights_only=True)``
* ``replies``   the typed probe replies, validated when they reach the grader
* ``modelspec`` flat ``nn.Sequential`` models <-> plain data (layers by position, with tensors)
* ``worker``    the student process: imports the submission and answers probe requests
* ``probes``    what the student process can be asked to run (it reports raw observations only)
* ``tamper``    which torch functions the submission replaced (taken in the student process)
* ``client``    trusted side: starts, limits, times out, restarts and kills the student process
* ``wording``   the phrases of the messages about the submission file (rewritten for notebooks)
"""
