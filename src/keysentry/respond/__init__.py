"""Response: attribute → contain → announce, as a declared state machine over stored exposures.

``states`` (the states and the one table of operator actions), ``steps`` (what each step does and the
IAM permissions it needs), ``runner`` (one step, recorded), ``driver`` (steps until done), ``operator``
(operators' decisions), ``intake`` (findings recorded), and ``responder`` (all of it behind one door).
Nothing is imported here, so that reading the states loads nothing else.
"""
