"""The hidden checks. Never shipped to students; run only by ``autograder.grading.runner``."""
