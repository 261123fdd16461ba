"""``gankit lab``: a small GAN learning a 2D shape, live in the browser (docs/learn.md).

``session.py`` trains one GAN from the page's settings with gankit's own pieces;
``shapes.py`` holds the 2D distributions; ``server.py`` runs the session in a thread and
answers the page (gankit/web/lab/).
"""
