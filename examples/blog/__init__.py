"""A small blog served over HTTP by SpecStar: ``make run`` starts it (see ``app.py``)."""
