"""The index folder on local disk: generations, reader, writer, lexical impacts, compaction, checks."""
