"""Live Training: the tiny MLP and its optimizers raced side by side (:mod:`.backend`, torch
imported lazily), the 2D datasets (:mod:`.datasets`) and the pure figures (:mod:`.figures`)."""
