"""Speech Embedding Network (SEN), Sec. III-B of the S2IGAN paper, Eq. (1)-(9)."""
