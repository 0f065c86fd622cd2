"""The Playground: what is raced (:mod:`.scene`: the scene model, presets, the URL state and
its computation), its pure figures (:mod:`.figures`) and the step inspector (:mod:`.inspector`)."""
