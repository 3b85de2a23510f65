package io.nemu.shim.oci;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import java.math.BigInteger;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/**
 * Fills a protobuf message from OCI runtime-spec JSON. Kata's {@code oci.proto} names fields after the
 * Go structs ({@code UID}, {@code OOMScoreAdj}), the JSON after their tags ({@code uid},
 * {@code oomScoreAdj}), so fields are matched ignoring case. JSON keys without a field are reported to
 * {@code skipped} and left out (OCI has more than Kata's proto); a value of the wrong type or out of its
 * field's range is a {@link Mismatch} naming its JSON path, as Go's decoder in runc and Kata refuses it:
 * dropping it would change what runs (a string uid would run as root).
 */
public final class JsonToProto {
    /** JSON keys whose field has another name in Kata's proto. */
    private static final Map<String, String> ALIASES = Map.of("ociversion", "version");
    private static final BigInteger UINT32_MAX = BigInteger.valueOf(0xffff_ffffL);
    private static final BigInteger UINT64_MAX = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);
    private static final BigInteger INT32_MIN = BigInteger.valueOf(Integer.MIN_VALUE);
    private static final BigInteger INT32_MAX = BigInteger.valueOf(Integer.MAX_VALUE);
    private static final BigInteger INT64_MIN = BigInteger.valueOf(Long.MIN_VALUE);
    private static final BigInteger INT64_MAX = BigInteger.valueOf(Long.MAX_VALUE);

    /** A JSON value that does not fit its field, e.g. {@code process.user.uid: expected a number, got string "1000"}. */
    public static final class Mismatch extends IllegalArgumentException {
        private final String path;

        Mismatch(String path, String problem) {
            super(path + ": " + problem);
            this.path = path;
        }

        /** The JSON path of the value, e.g. {@code mounts[0].options}. */
        public String path() {
            return path;
        }
    }

    private JsonToProto() {
    }

    /** Fills {@code builder} from a whole document (config.json). */
    public static void merge(JsonNode json, Message.Builder builder, Consumer<String> skipped) {
        merge(json, builder, "", skipped);
    }

    /**
     * Fills {@code builder} from the object {@code json}; {@code root} is its path in errors ({@code process}
     * for an exec's process spec), empty for a whole document.
     */
    public static void merge(JsonNode json, Message.Builder builder, String root, Consumer<String> skipped) {
        if (json == null || !json.isObject()) {
            throw new Mismatch(root.isEmpty() ? "(document)" : root, expected("an object", json));
        }
        fill(json, builder, root, skipped);
    }

    private static void fill(JsonNode json, Message.Builder b, String path, Consumer<String> skipped) {
        Map<String, FieldDescriptor> fields = index(b.getDescriptorForType());
        for (Iterator<Map.Entry<String, JsonNode>> it = json.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String where = path.isEmpty() ? e.getKey() : path + "." + e.getKey();
            String name = e.getKey().toLowerCase(Locale.ROOT);
            FieldDescriptor f = fields.get(ALIASES.getOrDefault(name, name));
            JsonNode v = e.getValue();
            if (f == null) {
                skipped.accept(where);
            } else if (!v.isNull()) { // null is Go's zero value: the field stays unset
                set(b, f, v, where, skipped);
            }
        }
    }

    private static void set(Message.Builder b, FieldDescriptor f, JsonNode v, String where, Consumer<String> skipped) {
        if (f.isMapField()) {
            if (!v.isObject()) {
                throw new Mismatch(where, expected("an object", v));
            }
            Descriptor entry = f.getMessageType();
            FieldDescriptor kf = entry.findFieldByName("key");
            FieldDescriptor vf = entry.findFieldByName("value");
            for (Iterator<Map.Entry<String, JsonNode>> m = v.fields(); m.hasNext(); ) {
                Map.Entry<String, JsonNode> kv = m.next();
                Message.Builder eb = b.newBuilderForField(f);
                eb.setField(kf, kv.getKey());
                eb.setField(vf, scalar(vf, kv.getValue(), where + "[\"" + kv.getKey() + "\"]"));
                b.addRepeatedField(f, eb.build());
            }
        } else if (f.isRepeated()) {
            if (!v.isArray()) {
                throw new Mismatch(where, expected("an array", v));
            }
            int i = 0;
            for (JsonNode item : v) {
                b.addRepeatedField(f, value(b, f, item, where + "[" + i++ + "]", skipped));
            }
        } else {
            b.setField(f, value(b, f, v, where, skipped));
        }
    }

    private static Object value(Message.Builder parent, FieldDescriptor f, JsonNode v, String where,
                                Consumer<String> skipped) {
        if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
            if (!v.isObject()) {
                throw new Mismatch(where, expected("an object", v));
            }
            Message.Builder sub = parent.newBuilderForField(f);
            fill(v, sub, where, skipped);
            return sub.build();
        }
        return scalar(f, v, where);
    }

    private static Object scalar(FieldDescriptor f, JsonNode v, String where) {
        return switch (f.getJavaType()) {
            case STRING -> {
                if (!v.isTextual()) {
                    throw new Mismatch(where, expected("a string", v));
                }
                yield v.asText();
            }
            case BOOLEAN -> {
                if (!v.isBoolean()) {
                    throw new Mismatch(where, expected("true or false", v));
                }
                yield v.asBoolean();
            }
            case INT, LONG -> integer(f, v, where);
            case FLOAT, DOUBLE -> {
                if (!v.isNumber()) {
                    throw new Mismatch(where, expected("a number", v));
                }
                yield f.getJavaType() == FieldDescriptor.JavaType.FLOAT ? (Object) (float) v.asDouble() : v.asDouble();
            }
            default -> throw new IllegalStateException("field " + f.getFullName() + " of type " + f.getType()
                    + " has no JSON mapping");
        };
    }

    /** An integer within the proto type's range; unsigned values keep their bits in Java's signed int/long. */
    private static Object integer(FieldDescriptor f, JsonNode v, String where) {
        if (!v.isNumber()) {
            throw new Mismatch(where, expected("a number", v));
        }
        if (!v.isIntegralNumber()) {
            throw new Mismatch(where, expected("an integer", v));
        }
        BigInteger n = v.bigIntegerValue();
        String type;
        BigInteger min;
        BigInteger max;
        switch (f.getType()) {
            case UINT32, FIXED32 -> {
                type = "uint32";
                min = BigInteger.ZERO;
                max = UINT32_MAX;
            }
            case UINT64, FIXED64 -> {
                type = "uint64";
                min = BigInteger.ZERO;
                max = UINT64_MAX;
            }
            case INT32, SINT32, SFIXED32 -> {
                type = "int32";
                min = INT32_MIN;
                max = INT32_MAX;
            }
            default -> {
                type = "int64";
                min = INT64_MIN;
                max = INT64_MAX;
            }
        }
        if (n.compareTo(min) < 0 || n.compareTo(max) > 0) {
            throw new Mismatch(where, n + " is out of range for " + type + " (" + min + ".." + max + ")");
        }
        return f.getJavaType() == FieldDescriptor.JavaType.INT ? (Object) n.intValue() : (Object) n.longValue();
    }

    private static String expected(String what, JsonNode got) {
        return "expected " + what + ", got " + describe(got);
    }

    private static String describe(JsonNode v) {
        if (v == null || v.isMissingNode()) {
            return "nothing";
        }
        return switch (v.getNodeType()) {
            case STRING -> "string \"" + shorten(v.asText()) + "\"";
            case NUMBER -> "number " + v.asText();
            case BOOLEAN -> "boolean " + v.asText();
            case ARRAY -> "an array";
            case OBJECT -> "an object";
            case NULL -> "null";
            default -> v.getNodeType().toString().toLowerCase(Locale.ROOT);
        };
    }

    private static String shorten(String s) {
        return s.length() > 60 ? s.substring(0, 60) + "..." : s;
    }

    private static final Map<Descriptor, Map<String, FieldDescriptor>> INDEX = new ConcurrentHashMap<>();

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
