"""The exhibit: a living grid of generated tiles on a screen, played live over OSC or the keyboard."""
