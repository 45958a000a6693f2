"""launchops: GitOps for Weights & Biases Launch.

Layout, one concern per module:
  settings   repository settings (launchops.toml, [tool.launchops], LAUNCHOPS_* env, CLI flags)
  problems   a located problem (file, line, column, JSON path, message): a value, not an exception
  yamlload   reading one spec file safely, with the line and column of every problem
  specs      which files are specs, what a spec set is, the effective spec's merge and digest
  loader     reading and checking spec files (schema_check: the schema's compiled check, written
             by fastjsonschema); imported only by a load that reads a file
  cost       what changed: the ledger's index, the stamped commit a plan starts from, and the
             spec files and shards to read
  checks     what makes a spec invalid (JSON Schema and what a schema cannot say)
  secrets    masking secret-named values; refusing credentials committed in specs
  ledger     the applied-state ledger (version 2: one shard per spec file) and its transitions
  ledger_v1  version 1 of the ledger, read and migrated
  journal    the durable append-only journal the ledger is materialised from
  plan       a plan is a value: pairing desired specs with the ledger, field diffs
  apply      consumes a plan: intents, enqueues, recovery by marker, ledger commit
  lock       one apply per clone (flock), and the claims on intents that racing runs respect
  gitrepo    ledger commits, push and fetch; the only module that imports GitPython
  backends/  the queues: local (embedded SQLite) and wandb (the only module importing wandb)
  render/    text, json, markdown and github renderings; nothing else prints
  engine     composes desired state -> plan -> apply; what the CLI calls
  cli        click commands that parse flags, call the above and pick a renderer
"""

__version__ = "0.1.0"
