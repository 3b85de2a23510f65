package io.nemu.agent.oci;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;

/** The OCI JSON tree: written as bytes with the streaming writer, and the helpers that leave zero values out. */
public final class OciJson {
    private OciJson() {}

    // Only the tree model and the streaming writer: an ObjectMapper would load ~300 more classes.
    static final JsonNodeFactory JSON = JsonNodeFactory.instance;
    private static final JsonFactory WRITER = new JsonFactory();

    /** The tree as JSON bytes. */
    public static byte[] bytes(JsonNode tree) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(4096);
        try (JsonGenerator g = WRITER.createGenerator(out)) {
            write(tree, g);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    private static void write(JsonNode n, JsonGenerator g) throws java.io.IOException {
        switch (n.getNodeType()) {
            case OBJECT -> {
                g.writeStartObject();
                for (var it = n.fields(); it.hasNext(); ) {
                    var e = it.next();
                    g.writeFieldName(e.getKey());
                    write(e.getValue(), g);
                }
                g.writeEndObject();
            }
            case ARRAY -> {
                g.writeStartArray();
                for (JsonNode c : n) {
                    write(c, g);
                }
                g.writeEndArray();
            }
            case STRING -> g.writeString(n.textValue());
            case BOOLEAN -> g.writeBoolean(n.booleanValue());
            case NUMBER -> {
                if (n.isBigInteger()) {
                    g.writeNumber(n.bigIntegerValue());
                } else if (n.isIntegralNumber()) {
                    g.writeNumber(n.longValue());
                } else {
                    g.writeNumber(n.doubleValue());
                }
            }
            default -> g.writeNull();
        }
    }

    static void putNonZero(ObjectNode o, String name, long v) {
        if (v != 0) {
            o.put(name, v);
        }
    }

    static void strings(ObjectNode o, String name, List<String> values) {
        if (!values.isEmpty()) {
            ArrayNode a = o.putArray(name);
            values.forEach(a::add);
        }
    }

    static java.math.BigInteger unsigned(long v) {
        return new java.math.BigInteger(Long.toUnsignedString(v));
    }
}
