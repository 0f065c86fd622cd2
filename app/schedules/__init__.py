"""The Schedules page's model: schedule parameters, compositions, "copy as PyTorch", runs and
range tests (:mod:`.logic`), and its pure figures (:mod:`.figures`)."""
