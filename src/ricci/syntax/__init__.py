"""Reading programs: ricci's notation (:mod:`.parse`) and LaTeX (:mod:`.latex`) into one
syntax tree with source spans; :mod:`.resolve` turns it into the IR (the index rule, the
size classes)."""
