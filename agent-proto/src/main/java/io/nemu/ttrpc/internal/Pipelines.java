package io.nemu.ttrpc.internal;

import io.netty.channel.Channel;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/** Pipeline layout and the threads ttrpc creates when the caller does not bring its own. */
public final class Pipelines {
    public static final String DECODER = "ttrpc-frame-decoder";
    public static final String ENCODER = "ttrpc-frame-encoder";
    public static final String HANDLER = "ttrpc-connection";

    private Pipelines() {}

    public static void install(Channel channel, io.netty.channel.ChannelHandler connection) {
        if (connection instanceof ClientConnection client) {
            client.attach(channel);
        }
        ChannelPipeline p = channel.pipeline();
        p.addLast(DECODER, new FrameDecoder());
        p.addLast(ENCODER, FrameEncoder.INSTANCE);
        p.addLast(HANDLER, connection);
    }

    /** An epoll event loop group of daemon threads (unix sockets need epoll). */
    public static EventLoopGroup newEpollGroup(String name, int threads) {
        if (!Epoll.isAvailable()) {
            throw new IllegalStateException("unix domain sockets need Netty's native epoll transport, which is "
                    + "unavailable here: " + Epoll.unavailabilityCause());
        }
        return new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory(name, true),
                EpollIoHandler.newFactory());
    }

    /** Unbounded pool of daemon threads that go away after a minute idle. */
    public static ExecutorService newHandlerPool(String name) {
        return new ThreadPoolExecutor(0, Integer.MAX_VALUE, 60, TimeUnit.SECONDS, new SynchronousQueue<>(),
                new DefaultThreadFactory(name, true));
    }
}
