"""The sandbox control plane (`shipdeck sim`): Miosa, Miteos and Mixpeek surfaces over one SQLite database.

Imports nothing from shipdeck's other packages: it is an independent check on the client's models.
"""
