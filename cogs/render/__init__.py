"""Render the engine's typed results as Discord embeds and one-line updates.

Every cog renders through these modules, and the offline replay prints the same embeds as
text (:func:`cogs.render.text.embed_to_text`), so a replayed day reads as the channel would
have shown it.
"""
