package io.nemu.ttrpc.internal;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageLite;
import com.google.protobuf.WireFormat;
import com.google.protobuf.UnsafeByteOperations;
import io.grpc.Drainable;
import io.grpc.KnownLength;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.nemu.proto.ttrpc.KeyValue;
import io.nemu.proto.ttrpc.Request;
import io.nemu.proto.ttrpc.Response;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Locale;

/** Conversions between gRPC's objects and ttrpc's envelope. */
public final class Wire {
    private Wire() {}

    /** Serialises a message with the method's marshaller into a byte array of exactly its size. */
    public static <T> byte[] toBytes(MethodDescriptor.Marshaller<T> marshaller, T message) {
        try (InputStream in = marshaller.stream(message)) {
            if (in instanceof KnownLength && in instanceof Drainable drainable) {
                int size = in.available();
                byte[] out = new byte[size];
                ByteBuf sink = Unpooled.wrappedBuffer(out).writerIndex(0);
                drainable.drainTo(new BoundedOut(sink, size));
                if (sink.writerIndex() == size) {
                    return out;
                }
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw Status.INTERNAL.withDescription("cannot serialise message: " + e).withCause(e).asRuntimeException();
        }
    }

    /** A good call's Response before its payload field: the status (OK), as protobuf writes it. */
    private static final byte[] OK_STATUS = Response.newBuilder().setStatus(toProto(Status.OK)).build().toByteArray();

    /**
     * The whole frame that answers stream {@code streamId} of a call that ended well with {@code message}: header and
     * {@code Response{status: OK, payload: message}}, the message serialised straight into its place in a buffer of
     * {@code alloc} (direct for I/O: the guest agent's is malloc'd memory, not a zeroed heap array that the frame
     * encoder would copy again; a 1 MiB ReadStdout paid both per call). The caller owns the buffer.
     */
    public static <T> ByteBuf okResponseFrame(ByteBufAllocator alloc, int streamId,
            MethodDescriptor.Marshaller<T> marshaller, T message) {
        try (InputStream in = marshaller.stream(message)) {
            if (in instanceof KnownLength && in instanceof Drainable drainable) {
                int size = in.available();
                int head = OK_STATUS.length + (size == 0 ? 0 : 1 + CodedOutputStream.computeUInt32SizeNoTag(size));
                ByteBuf out = header(alloc, streamId, head + size);
                try {
                    out.writeBytes(OK_STATUS);
                    if (size > 0) { // proto3 leaves an empty bytes field out
                        byte[] field = new byte[head - OK_STATUS.length];
                        CodedOutputStream tag = CodedOutputStream.newInstance(field);
                        tag.writeTag(Response.PAYLOAD_FIELD_NUMBER, WireFormat.WIRETYPE_LENGTH_DELIMITED);
                        tag.writeUInt32NoTag(size);
                        tag.checkNoSpaceLeft();
                        out.writeBytes(field);
                    }
                    int end = Frame.HEADER_LENGTH + head + size;
                    drainable.drainTo(new BoundedOut(out, end));
                    if (out.writerIndex() == end) {
                        return out;
                    }
                } catch (IOException | RuntimeException e) {
                    out.release();
                    throw e;
                }
                out.release();
            }
        } catch (IOException e) {
            throw Status.INTERNAL.withDescription("cannot serialise message: " + e).withCause(e).asRuntimeException();
        }
        byte[] bytes = Response.newBuilder().setStatus(toProto(Status.OK))
                .setPayload(UnsafeByteOperations.unsafeWrap(toBytes(marshaller, message))).build().toByteArray();
        return header(alloc, streamId, bytes.length).writeBytes(bytes);
    }

    /** A buffer for a response frame of {@code length} data bytes, its header written. */
    private static ByteBuf header(ByteBufAllocator alloc, int streamId, int length) {
        ByteBuf out = alloc.ioBuffer(Frame.HEADER_LENGTH + length);
        return out.writeInt(length).writeInt(streamId).writeByte(Frame.TYPE_RESPONSE).writeByte(0);
    }

    /** Writes into a buffer up to an announced end (a message's announced size), no further. */
    private static final class BoundedOut extends OutputStream {
        private final ByteBuf buf;
        private final int end;

        BoundedOut(ByteBuf buf, int end) {
            this.buf = buf;
            this.end = end;
        }

        @Override
        public void write(int b) throws IOException {
            if (buf.writerIndex() >= end) {
                throw new IOException("message larger than announced");
            }
            buf.writeByte(b);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            if (len > end - buf.writerIndex()) {
                throw new IOException("message larger than announced");
            }
            buf.writeBytes(b, off, len);
        }
    }

    /**
     * Parses with the method's marshaller. The stream says its length ({@link KnownLength}), which
     * lets gRPC's protobuf marshaller take its fast path instead of a buffered stream decoder.
     */
    public static <T> T parse(MethodDescriptor.Marshaller<T> marshaller, ByteString bytes) {
        if (marshaller instanceof MethodDescriptor.PrototypeMarshaller<T> p
                && p.getMessagePrototype() instanceof MessageLite prototype) {
            try {
                @SuppressWarnings("unchecked")
                T message = (T) prototype.getParserForType().parseFrom(aliasing(bytes));
                return message;
            } catch (InvalidProtocolBufferException e) {
                throw Status.INTERNAL.withDescription("invalid protobuf byte sequence").withCause(e)
                        .asRuntimeException();
            }
        }
        return marshaller.parse(new KnownLengthStream(bytes.newInput()));
    }

    /**
     * A reader whose bytes fields are views of {@code bytes} instead of copies (a frame's payload is never written
     * once received): a 1 MiB WriteStdin is not copied twice more on its way through the envelope and the message.
     */
    public static CodedInputStream aliasing(ByteString bytes) {
        CodedInputStream in = bytes.newCodedInput();
        in.enableAliasing(true);
        return in;
    }

    /** As {@link #aliasing(ByteString)}, for a frame's payload. */
    public static CodedInputStream aliasing(byte[] bytes) {
        return aliasing(UnsafeByteOperations.unsafeWrap(bytes));
    }

    private static final class KnownLengthStream extends java.io.FilterInputStream implements KnownLength {
        KnownLengthStream(InputStream in) {
            super(in);
        }
    }

    public static <T> T parse(MethodDescriptor.Marshaller<T> marshaller, byte[] bytes) {
        return parse(marshaller, UnsafeByteOperations.unsafeWrap(bytes));
    }

    /** ttrpc metadata from gRPC headers: ASCII headers only, keys in lower case (gRPC keeps them so). */
    public static void putMetadata(Request.Builder request, Metadata headers) {
        if (headers == null) {
            return;
        }
        for (String key : headers.keys()) {
            if (key.endsWith(Metadata.BINARY_HEADER_SUFFIX)) {
                continue; // ttrpc values are strings; binary headers have no faithful form there
            }
            Iterable<String> values = headers.getAll(Metadata.Key.of(key, Metadata.ASCII_STRING_MARSHALLER));
            if (values == null) {
                continue;
            }
            for (String value : values) {
                request.addMetadata(KeyValue.newBuilder().setKey(key).setValue(value));
            }
        }
    }

    /** gRPC headers from ttrpc metadata; entries gRPC cannot carry as ASCII headers are skipped. */
    public static Metadata toMetadata(Request request) {
        Metadata headers = new Metadata();
        for (KeyValue kv : request.getMetadataList()) {
            String key = kv.getKey().toLowerCase(Locale.ROOT);
            if (key.endsWith(Metadata.BINARY_HEADER_SUFFIX)) {
                continue;
            }
            try {
                headers.put(Metadata.Key.of(key, Metadata.ASCII_STRING_MARSHALLER), kv.getValue());
            } catch (IllegalArgumentException e) {
                // A key or value gRPC refuses (illegal characters): not representable, drop it.
            }
        }
        return headers;
    }

    public static io.nemu.proto.rpc.Status toProto(Status status) {
        io.nemu.proto.rpc.Status.Builder b = io.nemu.proto.rpc.Status.newBuilder()
                .setCode(status.getCode().value());
        String description = status.getDescription();
        if (description == null && status.getCause() != null) {
            description = status.getCause().toString();
        }
        if (description != null) {
            b.setMessage(description);
        }
        return b.build();
    }

    public static Status fromProto(io.nemu.proto.rpc.Status status) {
        Status s = Status.fromCodeValue(status.getCode());
        return status.getMessage().isEmpty() ? s : s.withDescription(status.getMessage());
    }
}
