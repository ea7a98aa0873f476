"""Hostile and broken archive servers (issue 13): each module serves one family of attacks.

* :mod:`.transfer` bodies larger than listed, endless chunked bodies, drip feeds, short bodies
* :mod:`.listing`  branching directory loops, listing gzip bombs
* :mod:`.mast`     a MAST portal that claims a million pages, or repeats pages
* :mod:`.redirect` redirects to other ports and schemes that try to collect credentials
"""
