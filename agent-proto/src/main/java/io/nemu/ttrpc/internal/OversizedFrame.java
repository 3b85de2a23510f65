package io.nemu.ttrpc.internal;

/** A frame whose declared data length exceeded the limit; its body was skipped, not buffered. */
public record OversizedFrame(int streamId, byte type, long length) implements Inbound {}
