"""Jet events: pp -> Z/gamma* (-> mu+ mu-) + jets at 13 TeV, the truth a generative model is measured against.

    events   the event file format (.npz) shared by truth and generated events, and the statistics both need
             (multiplicity fractions, staircase ratios R_n = sigma(n+1) / sigma(n) with errors)
    truth    Pythia 8 + FastJet generation of truth events, in resumable chunks over the project's executor
    toy      an exact toy truth (a Yule branching process, geometric multiplicities), numpy only, for fast tests
    preprocess  events <-> the arrays the continuous model learns, exactly invertible
    plugin   the density plugin `patternboost run jets` runs (truth, fit, encode, decode, evaluate)
    evaluate generated events against held-out truth: staircase with errors, kinematic distances, plots
"""
