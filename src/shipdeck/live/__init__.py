"""The live view of one connection: REST snapshot + streams, coalesced into change batches. No Textual."""
