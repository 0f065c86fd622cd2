"""The Memory page's model: bytes of parameters, gradients and optimizer state (:mod:`.model`)."""
