package io.nemu.ttrpc.internal;

/** What the frame decoder hands up the pipeline: a frame, or the notice that one was refused. */
public sealed interface Inbound permits Frame, OversizedFrame {
    int streamId();
}
