// cellctl line protocol v1: reference firmware for a heat press on an Arduino Uno/Nano.
// See firmware_bridge/PROTOCOL.md. No heap, no String: a 2 KB AVR must run it for years.

#include <Arduino.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FW_VERSION "1.0.0"
#define DEVICE_KIND "heatpress"
#define DEVICE_ID "HP-0001"
#define PROTO_MIN 1
#define PROTO_MAX 1
#define MAX_FRAME 96

const uint8_t PIN_PRESS = 8;      // relay closing the press
const uint8_t PIN_GUARD = 2;      // guard switch to ground: LOW means closed
const uint8_t PIN_HEATER = 9;     // platen heater (on/off control)
const uint8_t PIN_THERMO = A0;    // platen temperature, 0..1023 -> 0..400 degC

enum State { IDLE, RUNNING, FAULT };
static const char *const STATE_NAMES[] = {"IDLE", "RUNNING", "FAULT"};

static char rx[MAX_FRAME + 1];
static uint8_t rxLen = 0;
static bool rxTooLong = false;

// The last reply is kept so a repeated command (same seq) is answered, not re-run.
static uint16_t lastSeq = 0;
static char lastReply[MAX_FRAME + 1];
static uint16_t eventSeq = 0;

static State state = IDLE;
static unsigned long unitCount = 0;
static unsigned int cyclesLeft = 0;
static unsigned long cycleStart = 0;
static unsigned long dwellMs = 2000;
static int setTemp = 180;
static uint8_t faultCode = 0;

static uint8_t crc8(const char *s, size_t n) {
  uint8_t crc = 0;
  for (size_t i = 0; i < n; i++) {
    crc ^= (uint8_t)s[i];
    for (uint8_t b = 0; b < 8; b++) crc = (crc & 0x80) ? (uint8_t)((crc << 1) ^ 0x07) : (uint8_t)(crc << 1);
  }
  return crc;
}

static void sendFrame(const char *payload) {
  char tail[5];
  snprintf(tail, sizeof tail, "*%02X", crc8(payload, strlen(payload)));
  Serial.print(payload);
  Serial.print(tail);
  Serial.print('\n');
}

static void event(const char *text) {
  char buf[MAX_FRAME + 1];
  eventSeq = eventSeq == 65535 ? 1 : eventSeq + 1;
  snprintf(buf, sizeof buf, "! %u %s", eventSeq, text);
  sendFrame(buf);
}

static void setState(State s) {
  if (s == state) return;
  state = s;
  digitalWrite(PIN_PRESS, s == RUNNING ? HIGH : LOW);
  char buf[32];
  snprintf(buf, sizeof buf, "STATE state=%s", STATE_NAMES[s]);
  event(buf);
}

static void fault(uint8_t code, const char *text) {
  cyclesLeft = 0;
  faultCode = code;
  setState(FAULT);
  char buf[64];
  snprintf(buf, sizeof buf, "FAULT code=%u text=%s", code, text);
  event(buf);
}

static bool guardClosed() { return digitalRead(PIN_GUARD) == LOW; }

static int platenTemp() { return (int)((long)analogRead(PIN_THERMO) * 400 / 1023); }

static void dwellText(char *out, size_t n) {
  snprintf(out, n, "%lu.%lu", dwellMs / 1000, (dwellMs % 1000) / 100);
}

// Parses "key=value"; returns a pointer to value, or NULL.
static char *valueOf(char *arg, const char *key) {
  size_t k = strlen(key);
  return (strncmp(arg, key, k) == 0 && arg[k] == '=') ? arg + k + 1 : NULL;
}

static bool parseNumber(const char *s, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end != '\0') return false;
  *out = v;
  return true;
}

// Runs one command; writes the reply text (without seq) into out.
static void command(char *verb, char **args, uint8_t argc, char *out, size_t n) {
  char d[12];
  if (strcmp(verb, "HELLO") == 0) {
    int lo = 1, hi = 1;
    if (argc < 1 || sscanf(args[0], "%d-%d", &lo, &hi) != 2) { snprintf(out, n, "ERR 4 bad_version_range"); return; }
    if (hi < PROTO_MIN || lo > PROTO_MAX) { snprintf(out, n, "ERR 8 no_common_version"); return; }
    snprintf(out, n, "OK proto=%d dev=" DEVICE_KIND " fw=" FW_VERSION " id=" DEVICE_ID,
             hi < PROTO_MAX ? hi : PROTO_MAX);
  } else if (strcmp(verb, "PING") == 0) {
    snprintf(out, n, "OK");
  } else if (strcmp(verb, "ID") == 0) {
    snprintf(out, n, "OK dev=" DEVICE_KIND " fw=" FW_VERSION " id=" DEVICE_ID);
  } else if (strcmp(verb, "STATUS") == 0) {
    dwellText(d, sizeof d);
    int len = snprintf(out, n, "OK state=%s count=%lu cycles_left=%u dwell=%s temp=%d",
                       STATE_NAMES[state], unitCount, cyclesLeft, d, setTemp);
    if (state == FAULT) snprintf(out + len, n - len, " fault=%u", faultCode);
  } else if (strcmp(verb, "COUNT") == 0) {
    if (argc >= 1 && strcmp(args[0], "RESET") == 0) {
      if (state == RUNNING) { snprintf(out, n, "ERR 5 running"); return; }
      unitCount = 0;
    }
    snprintf(out, n, "OK count=%lu", unitCount);
  } else if (strcmp(verb, "GET") == 0) {
    dwellText(d, sizeof d);
    if (argc >= 1 && strcmp(args[0], "dwell") == 0) snprintf(out, n, "OK dwell=%s", d);
    else if (argc >= 1 && strcmp(args[0], "temp") == 0) snprintf(out, n, "OK temp=%d", setTemp);
    else snprintf(out, n, "ERR 4 unknown_setting");
  } else if (strcmp(verb, "SET") == 0) {
    // Check every argument before changing anything: all or nothing.
    double newDwell = -1, newTemp = -1, v;
    if (argc == 0) { snprintf(out, n, "ERR 4 unknown_setting"); return; }
    for (uint8_t i = 0; i < argc; i++) {
      char *val;
      if ((val = valueOf(args[i], "dwell")) != NULL) {
        if (!parseNumber(val, &v) || v < 0.1 || v > 600) { snprintf(out, n, "ERR 4 not_a_number"); return; }
        newDwell = v;
      } else if ((val = valueOf(args[i], "temp")) != NULL) {
        if (!parseNumber(val, &v) || v < 0 || v > 250) { snprintf(out, n, "ERR 4 not_a_number"); return; }
        newTemp = v;
      } else {
        snprintf(out, n, "ERR 4 unknown_setting");
        return;
      }
    }
    if (state == RUNNING) { snprintf(out, n, "ERR 5 running"); return; }
    if (newDwell >= 0) dwellMs = (unsigned long)(newDwell * 1000 + 0.5);
    if (newTemp >= 0) setTemp = (int)newTemp;
    dwellText(d, sizeof d);
    snprintf(out, n, "OK dwell=%s temp=%d", d, setTemp);
  } else if (strcmp(verb, "START") == 0) {
    long cycles = 1;
    if (argc >= 1) {
      char *val = valueOf(args[0], "cycles");
      char *end;
      if (val == NULL) { snprintf(out, n, "ERR 4 cycles_missing"); return; }
      cycles = strtol(val, &end, 10);
      if (end == val || *end != '\0' || cycles < 1 || cycles > 65535) { snprintf(out, n, "ERR 4 cycles_not_a_number"); return; }
    }
    if (state == FAULT) { snprintf(out, n, "ERR 7 fault_active"); return; }
    if (!guardClosed()) { snprintf(out, n, "ERR 6 interlock_open"); return; }
    if (state == RUNNING) { snprintf(out, n, "ERR 5 already_running"); return; }
    cyclesLeft = (unsigned int)cycles;
    cycleStart = millis();
    setState(RUNNING);
    snprintf(out, n, "OK cycles=%ld", cycles);
  } else if (strcmp(verb, "STOP") == 0) {
    const char *was = STATE_NAMES[state];
    if (state == RUNNING) { cyclesLeft = 0; setState(IDLE); }
    snprintf(out, n, "OK was=%s", was);
  } else if (strcmp(verb, "CLEAR") == 0) {
    if (state == FAULT) { faultCode = 0; setState(IDLE); }
    snprintf(out, n, "OK");
  } else {
    snprintf(out, n, "ERR 3 unknown_command");
  }
}

static void handleFrame(char *line) {
  char *star = strrchr(line, '*');
  if (star == NULL || strlen(star) != 3) { sendFrame("0 ERR 1 no_checksum"); return; }
  unsigned int given;
  if (sscanf(star + 1, "%2X", &given) != 1 || crc8(line, star - line) != given) {
    sendFrame("0 ERR 1 checksum_mismatch");
    return;
  }
  *star = '\0';
  char *words[10];
  uint8_t count = 0;
  for (char *w = strtok(line, " "); w != NULL && count < 10; w = strtok(NULL, " ")) words[count++] = w;
  if (count < 2) { sendFrame("0 ERR 4 no_sequence_number"); return; }
  char *end;
  unsigned long seq = strtoul(words[0], &end, 10);
  if (*end != '\0' || seq == 0 || seq > 65535) { sendFrame("0 ERR 4 bad_sequence_number"); return; }
  if (seq == lastSeq) { sendFrame(lastReply); return; }  // a repeat: answer again, do not re-run
  char text[MAX_FRAME - 8];
  command(words[1], words + 2, count - 2, text, sizeof text);
  lastSeq = (uint16_t)seq;
  snprintf(lastReply, sizeof lastReply, "%lu %s", seq, text);
  sendFrame(lastReply);
}

void setup() {
  pinMode(PIN_PRESS, OUTPUT);
  pinMode(PIN_HEATER, OUTPUT);
  pinMode(PIN_GUARD, INPUT_PULLUP);
  digitalWrite(PIN_PRESS, LOW);
  Serial.begin(115200);
  char buf[64];
  snprintf(buf, sizeof buf, "BOOT proto=%d-%d dev=" DEVICE_KIND " fw=" FW_VERSION, PROTO_MIN, PROTO_MAX);
  event(buf);
}

void loop() {
  while (Serial.available() > 0) {
    char c = (char)Serial.read();
    if (c == '\r') continue;
    if (c != '\n') {
      if (rxLen < MAX_FRAME) rx[rxLen++] = c;
      else rxTooLong = true;
      continue;
    }
    rx[rxLen] = '\0';
    if (rxTooLong) sendFrame("0 ERR 2 frame_too_long");
    else if (rxLen > 0) handleFrame(rx);
    rxLen = 0;
    rxTooLong = false;
  }

  int temp = platenTemp();
  digitalWrite(PIN_HEATER, (state != FAULT && temp < setTemp) ? HIGH : LOW);
  if (state != FAULT && temp > setTemp + 40) fault(1, "overtemperature");

  if (state == RUNNING) {
    if (!guardClosed()) {
      fault(6, "guard_opened");
    } else if (millis() - cycleStart >= dwellMs) {  // unsigned: survives millis() wrapping
      unitCount++;
      char buf[32];
      snprintf(buf, sizeof buf, "CYCLE count=%lu", unitCount);
      event(buf);
      if (--cyclesLeft > 0) cycleStart = millis();
      else setState(IDLE);
    }
  }
}
