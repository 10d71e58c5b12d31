"""The notebook kernel a run starts: ipykernel's, with no TCP socket when it runs over IPC.

ipykernel binds its five channels where the connection file says (Unix sockets for the ``ipc``
transport), but it also opens a sixth socket of its own, always on TCP: the "IOPub pipe", on
which subprocesses forked by a notebook send their printed output back to the kernel
(``ipykernel.iostream.IOPubThread``, bound to a random port on 127.0.0.1). Any local user can
connect to it. Over IPC, this kernel binds that pipe as a Unix socket beside the others, in the
run's private folder (mode 0700), and forked subprocesses connect to it there; everything else
is ipykernel unchanged. Over TCP (a kernel started by hand with a TCP connection file) it is
ipykernel's own behaviour.

:class:`protection_eval.runs.kernels.WarmKernel` starts it with the kernelspec's Python and
arguments, ``-m protection_eval.runs.kernel_app`` in place of ``-m ipykernel_launcher``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import zmq
from ipykernel.iostream import IOPubThread
from ipykernel.kernelapp import IPKernelApp
from zmq.eventloop.zmqstream import ZMQStream

#: Appended to the kernel's IPC socket prefix (``<folder>/kernel-<id>-ipc``) for the pipe.
PIPE_SUFFIX = "-iopub-pipe"


class _IPCPipeIOPubThread(IOPubThread):
    """ipykernel's IOPub thread, whose pipe from forked subprocesses is a Unix socket."""

    def __init__(self, socket: zmq.Socket, pipe_path: str, **kwargs: Any) -> None:
        self._pipe_endpoint = f"ipc://{pipe_path}"
        super().__init__(socket, **kwargs)

    def _setup_pipe_in(self) -> None:
        pipe_in = self.socket.context.socket(zmq.PULL)
        pipe_in.linger = 0
        pipe_in.bind(self._pipe_endpoint)
        # As ipykernel does: a random key, which a forked subprocess inherits, signs each
        # message on the pipe.
        self._pipe_uuid = os.urandom(16)
        self._pipe_in = ZMQStream(pipe_in, self.io_loop)
        self._pipe_in.on_recv(self._handle_pipe_msg)

    def _setup_pipe_out(self) -> tuple[zmq.Context, zmq.Socket]:
        context = zmq.Context()  # a forked subprocess needs its own
        pipe_out = context.socket(zmq.PUSH)
        pipe_out.linger = 3000
        pipe_out.connect(self._pipe_endpoint)
        return context, pipe_out


class KernelApp(IPKernelApp):
    """ipykernel's application, with the IOPub pipe over IPC when the transport is IPC."""

    def init_iopub(self, context: zmq.Context) -> None:
        """Bind the IOPub channel; over IPC, the subprocess pipe too (see the module)."""
        if self.transport != "ipc":
            super().init_iopub(context)
            return
        # ipykernel's own steps (IPKernelApp.init_iopub), with the pipe's IOPub thread.
        self.iopub_socket = context.socket(zmq.XPUB)
        self.iopub_socket.linger = 1000
        self._apply_curve_server_options(self.iopub_socket)
        self.iopub_port = self._bind_socket(self.iopub_socket, self.iopub_port)
        self.configure_tornado_logger()
        self.iopub_thread = _IPCPipeIOPubThread(self.iopub_socket, self.ip + PIPE_SUFFIX,
                                                pipe=True, session=self.session)
        self.iopub_thread.start()
        self.iopub_socket = self.iopub_thread.background_socket


def main() -> None:
    """Start the kernel as ``ipykernel_launcher`` does."""
    if sys.path and sys.path[0] == "":
        del sys.path[0]
    KernelApp.launch_instance()


if __name__ == "__main__":
    main()
