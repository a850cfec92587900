"""`diss app`: the drawing app in the browser (Gradio, offline): its page layout (``layout``), endpoints
(``endpoints``), canvases (``canvas``), models by domain (``models``), sampling worker (``worker``) and flags
(``config``). Importing the package imports nothing heavy."""
