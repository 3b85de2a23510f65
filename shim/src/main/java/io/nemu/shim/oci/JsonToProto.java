package io.nemu.shim.oci;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Fills a protobuf message from OCI runtime-spec JSON. Kata's {@code oci.proto} names fields after the
 * Go structs ({@code UID}, {@code OOMScoreAdj}), the JSON after their tags ({@code uid},
 * {@code oomScoreAdj}), so fields are matched ignoring case. JSON keys without a field, or with a value
 * of another shape, are reported to {@code skipped} and left out.
 */
public final class JsonToProto {
    /** JSON keys whose field has another name in Kata's proto. */
    private static final Map<String, String> ALIASES = Map.of("ociversion", "version");

    private JsonToProto() {
    }

    public static void merge(JsonNode json, Message.Builder builder, Consumer<String> skipped) {
        merge(json, builder, "", skipped);
    }

    private static void merge(JsonNode json, Message.Builder b, String path, Consumer<String> skipped) {
        if (json == null || !json.isObject()) {
            return;
        }
        Map<String, FieldDescriptor> fields = index(b.getDescriptorForType());
        for (Iterator<Map.Entry<String, JsonNode>> it = json.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String where = path.isEmpty() ? e.getKey() : path + "." + e.getKey();
            String name = e.getKey().toLowerCase(Locale.ROOT);
            FieldDescriptor f = fields.get(ALIASES.getOrDefault(name, name));
            JsonNode v = e.getValue();
            if (f == null) {
                skipped.accept(where);
                continue;
            }
            if (v.isNull()) {
                continue;
            }
            try {
                if (f.isMapField()) {
                    if (!v.isObject()) {
                        skipped.accept(where);
                        continue;
                    }
                    Descriptor entry = f.getMessageType();
                    FieldDescriptor kf = entry.findFieldByName("key");
                    FieldDescriptor vf = entry.findFieldByName("value");
                    for (Iterator<Map.Entry<String, JsonNode>> m = v.fields(); m.hasNext(); ) {
                        Map.Entry<String, JsonNode> kv = m.next();
                        Message.Builder eb = b.newBuilderForField(f);
                        eb.setField(kf, kv.getKey());
                        eb.setField(vf, scalar(vf, kv.getValue()));
                        b.addRepeatedField(f, eb.build());
                    }
                } else if (f.isRepeated()) {
                    if (!v.isArray()) {
                        skipped.accept(where);
                        continue;
                    }
                    int i = 0;
                    for (JsonNode item : v) {
                        b.addRepeatedField(f, value(b, f, item, where + "[" + i++ + "]", skipped));
                    }
                } else {
                    b.setField(f, value(b, f, v, where, skipped));
                }
            } catch (IllegalArgumentException bad) {
                skipped.accept(where + " (" + bad.getMessage() + ")");
            }
        }
    }

    private static Object value(Message.Builder parent, FieldDescriptor f, JsonNode v, String where,
                                Consumer<String> skipped) {
        if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
            if (!v.isObject()) {
                throw new IllegalArgumentException("not an object");
            }
            Message.Builder sub = parent.newBuilderForField(f);
            merge(v, sub, where, skipped);
            return sub.build();
        }
        return scalar(f, v);
    }

    private static Object scalar(FieldDescriptor f, JsonNode v) {
        switch (f.getJavaType()) {
            case STRING:
                if (!v.isValueNode()) {
                    throw new IllegalArgumentException("not a string");
                }
                return v.asText();
            case BOOLEAN:
                if (!v.isBoolean()) {
                    throw new IllegalArgumentException("not a boolean");
                }
                return v.asBoolean();
            case INT:
                if (!v.isIntegralNumber()) {
                    throw new IllegalArgumentException("not an integer");
                }
                return (int) v.asLong();
            case LONG:
                if (!v.isIntegralNumber()) {
                    throw new IllegalArgumentException("not an integer");
                }
                return v.bigIntegerValue().longValue();
            case FLOAT:
                return (float) v.asDouble();
            case DOUBLE:
                return v.asDouble();
            default:
                throw new IllegalArgumentException("unsupported field type " + f.getJavaType());
        }
    }

    private static final Map<Descriptor, Map<String, FieldDescriptor>> INDEX = new java.util.concurrent.ConcurrentHashMap<>();

    private static Map<String, FieldDescriptor> index(Descriptor d) {
        return INDEX.computeIfAbsent(d, k -> {
            Map<String, FieldDescriptor> m = new HashMap<>();
            for (FieldDescriptor f : k.getFields()) {
                m.put(f.getName().toLowerCase(Locale.ROOT), f);
            }
            return m;
        });
    }

}
