"""Submissions the project's tests grade: realistic mistakes and hostile code."""
