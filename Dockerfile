# Placeholder until the "Ship it" issue: the server does not exist yet.
# The image will be multi-stage (build with the native toolchain for better-sqlite3, run as non-root).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
CMD ["npm", "start"]
