"""The user's own digits: the folder of drawings, each run's score on them, and teaching a run with them."""
