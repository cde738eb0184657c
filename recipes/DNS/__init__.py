"""The DNS recipe: the distillation study, the shipped models' release and campaign, their tools.

Run each script from the repository root as ``python -m recipes.DNS.<script>``;
``recipes/DNS/README.md`` says what each one is for. The scripts import each
other as ``recipes.DNS.<module>``.
"""
