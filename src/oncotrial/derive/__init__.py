"""SDTM → ADaM derivations: tumour response (RECIST 1.1, iRECIST, mRECIST), time to event,
immunogenicity (ADA), safety (TEAE, DLT). Pure functions on pandas DataFrames."""
