"""kombu's filesystem transport with atomic writes, for embedded mode.

kombu creates a message file empty, then locks and writes it; a worker polling in between moves the empty
file away and dies decoding it (JSONDecodeError). Here a message is written under a name no queue matches
and renamed into place, so a reader sees it whole or not at all."""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs) -> None:  # noqa: ANN001, ANN003
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + ".part"  # ".part" names no queue: readers skip it
        with open(partial, "wb") as f:
            f.write(str_to_bytes(dumps(payload)))
        os.replace(partial, final)


class Transport(filesystem.Transport):
    Channel = Channel
