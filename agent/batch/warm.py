"""What every batch task needs, loaded once in the process local workers are forked from.

Imported by multiprocessing's forkserver (see local.py): the modules `heron fix` imports lazily,
the tokenizer (a second to load, the same for every task), the HTTP client's transport and the
sandbox's seccomp compiler. Nothing here talks to a server or starts a thread.
"""

import openai

import agent.fix  # noqa: F401
import agent.repomap.rank  # noqa: F401
import agent.repomap.tags  # noqa: F401
import agent.sandbox.container  # noqa: F401
import agent.sandbox.landlock_tier  # noqa: F401
import agent.vcs.journal  # noqa: F401
from agent.model.tokens import load_tokenizer
from agent.sandbox.bubblewrap import seccomp_program

load_tokenizer()
openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="unused").close()  # imports its transport
seccomp_program()
