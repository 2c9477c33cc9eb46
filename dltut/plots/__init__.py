"""What :mod:`dltut.plot`'s figures are drawn from: :mod:`~dltut.plots.images` reads image
files and tiles small images into one (numpy and Pillow only, no matplotlib)."""
