"""Training: a folder of images in, an exhibit-ready generator file out."""
