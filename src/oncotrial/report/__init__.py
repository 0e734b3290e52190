"""Tables and figures for people: operating-characteristic plots now, the trial report later."""
