"""Private machinery of the bootstrap (layer 4): resampling schemes, intervals, progress bar.

``schemes`` turns a fit into resamples (one small class per method, registered in
``SCHEMES``), ``intervals`` turns the refitted draws into intervals, ``progress`` is the one
place that touches the optional progress bar.
"""
