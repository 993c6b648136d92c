"""Per-session feature extraction: audio cleaning, VGGish embeddings, openSMILE LLDs, face features."""
