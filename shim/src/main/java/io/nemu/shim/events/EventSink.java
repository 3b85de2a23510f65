package io.nemu.shim.events;

import com.google.protobuf.Message;

/** Where task events go (containerd's Events/Forward in production). Must keep the order of calls. */
public interface EventSink {
    void publish(String topic, Message event);
}
