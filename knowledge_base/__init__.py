"""knowledge_base — see ../shared/design/ARCHITECTURE.md; filled by later issues."""
