"""launchops: GitOps for Weights & Biases Launch.

Layout, one concern per module:
  settings   repository settings (launchops.toml, [tool.launchops], LAUNCHOPS_* env, CLI flags)
  yamlload   reading one spec file safely, with the line and column of every problem
  specs      discovering spec files, folder defaults, the effective spec and its digest
  checks     what makes a spec invalid (JSON Schema and what a schema cannot say)
  secrets    masking secret-named values; refusing credentials committed in specs
  ledger     the applied-state ledger and the transitions that change it
  journal    the durable append-only journal the ledger is materialised from
  plan       a plan is a value: pairing desired specs with the ledger, field diffs
  apply      consumes a plan: intents, enqueues, recovery by marker, ledger commit
  gitrepo    the only module that talks to git
  backends/  the queues: local (embedded SQLite) and wandb (the only module importing wandb)
  render/    text, json, markdown and github renderings; nothing else prints
  cli        click commands that parse flags, call the above and pick a renderer
"""

__version__ = "0.1.0"
