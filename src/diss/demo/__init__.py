"""`diss demo`: the three dials and local editing on the shipped models and their example drawings (``run``), and
its flags (``config``). Importing the package imports nothing heavy."""
