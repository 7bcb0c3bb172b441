"""Values of registration options shared by the library and the command line.

Kept free of NumPy and TensorFlow imports, so that the CLI can offer them as choices
without paying for those imports at start-up.
"""

# What a warped mask holds where the field samples outside the moving image (Registrar).
MASK_OUTSIDE = ("edge", "background")
# Global transforms fitted before the network (Registrar's prealign; prealign.py).
PREALIGN_KINDS = ("similarity", "affine")
