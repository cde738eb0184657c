"""Recipes: scripts that drive ``train.py`` and the package end to end.

Each recipe is a package of modules run from the repository root with
``python -m recipes.<recipe>.<script>``, e.g. ``python -m recipes.DNS.study --help``.
"""
