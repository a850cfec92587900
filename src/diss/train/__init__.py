"""`diss train` and `diss export`: two-stage training with accelerate (``loop``), a run's checkpoints, previews and
log (``run``, ``checkpoint``), resumable data order and learning rate (``schedule``), its flags (``config``), and a
run's EMA weights → a model folder (``export``). Importing the package imports nothing heavy."""
