package io.nemu.ttrpc.internal;

import io.netty.channel.Channel;
import io.netty.channel.EventLoop;
import io.netty.util.ReferenceCountUtil;

/**
 * Writes frames from any thread onto one channel. Frames go through the event loop in call order;
 * flushes are coalesced: one flush task per burst of writes rather than one syscall per frame.
 */
public final class FrameWriter {
    private final Channel channel;
    private final EventLoop loop;
    private boolean flushPending; // event loop only
    private final Runnable flushTask = this::flushNow;

    public FrameWriter(Channel channel) {
        this.channel = channel;
        this.loop = channel.eventLoop();
    }

    public Channel channel() {
        return channel;
    }

    public EventLoop loop() {
        return loop;
    }

    public void send(Frame frame) {
        if (loop.inEventLoop()) {
            writeInLoop(frame);
        } else {
            loop.execute(() -> writeInLoop(frame));
        }
    }

    /** Must be called on the event loop. A {@link Frame}, or a frame already encoded (a ByteBuf, released here). */
    public void writeInLoop(Object frame) {
        if (!channel.isActive()) {
            ReferenceCountUtil.release(frame);
            return; // the connection is gone; its streams are failed by channelInactive
        }
        channel.write(frame, channel.voidPromise());
        if (!flushPending) {
            flushPending = true;
            loop.execute(flushTask);
        }
    }

    private void flushNow() {
        flushPending = false;
        channel.flush();
    }
}
