"""The paper's self-questioning prompts, verbatim (PAPER.md, "Prompts"). User turns: the backend applies the chat format."""

from __future__ import annotations

SYSTEM_PROMPT = "You are a student who is eager to learn about new things."
# The Mistral variant of the paper's prompt format adds this assistant turn after the system prompt.
MISTRAL_ASSISTANT_PRIMER = (
    "I am a student who is eager to learn about new things. I am aware of my lack of knowledge about some things."
)

# Open and induced generation: the model proposes its own topics first.
TOPIC_PROMPT = (
    "Propose three topics about which you have little or no knowledge. "
    "Answer with only the three proposed topics concisely without elaboration."
)

# Open generation and oracle-selected topics.
OPEN_QUESTION_PROMPT = (
    "Consider one of these topics: {topics}. "
    "Propose only one question about something that you have little or no knowledge. "
    "Answer with only the proposed question concisely without elaboration."
)

# Induced generation: once per question word.
INDUCED_QUESTION_PROMPT = (
    "Consider one of these topics: {topics}. "
    "By using the word '{word}', propose only one question about something that you have little or no knowledge. "
    "Answer with only the proposed question concisely without elaboration."
)
QUESTION_WORDS = ("WHAT", "WHO", "WHY", "WHERE", "WHEN", "HOW")

# External prompt: trending topics from outside the model.
EXTERNAL_QUESTION_PROMPT = (
    "Consider these topics: {topics}. "
    "Propose only one question about something that you have little or no knowledge. "
    "Answer with only the proposed question concisely without elaboration."
)


# The paper's deterministic baseline always asks about these topics.
BASELINE_TOPICS = "AI, blockchain, cryptocurrency"
