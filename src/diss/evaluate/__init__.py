"""`diss evaluate`: FID/KID against the real-vs-real floor, sketch F1, stroke error (``metrics``), the trade-off
studies (``run``), the cascade at 256 px (``cascade``), the drawing study (``drawings``), the report (``report``) and
its flags (``config``). Importing the package imports nothing heavy."""
